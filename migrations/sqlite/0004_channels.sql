CREATE TABLE `channel_points` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`jobset_id` integer NOT NULL,
	`evaluation_id` integer NOT NULL,
	`commit_sha` text NOT NULL,
	`reason` text NOT NULL,
	`actor` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL,
	FOREIGN KEY (`jobset_id`) REFERENCES `jobsets`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`evaluation_id`) REFERENCES `evaluations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `channel_points_jobset_idx` ON `channel_points` (`jobset_id`,`id`);--> statement-breakpoint
ALTER TABLE `evaluations` ADD `channel_gate` text;--> statement-breakpoint
ALTER TABLE `jobsets` ADD `channel_pinned` integer DEFAULT false NOT NULL;