CREATE TABLE `cache_paths` (
	`hash` text PRIMARY KEY NOT NULL,
	`store_path` text NOT NULL,
	`nar_file` text NOT NULL,
	`nar_hash` text NOT NULL,
	`nar_size` integer NOT NULL,
	`file_size` integer NOT NULL,
	`compression` text NOT NULL,
	`references` text NOT NULL,
	`deriver` text,
	`ca` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL
);
--> statement-breakpoint
CREATE INDEX `cache_paths_nar_file_idx` ON `cache_paths` (`nar_file`);