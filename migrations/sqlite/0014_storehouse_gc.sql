CREATE TABLE `cache_path_orgs` (
	`hash` text NOT NULL,
	`org_id` integer NOT NULL,
	PRIMARY KEY(`hash`, `org_id`),
	FOREIGN KEY (`org_id`) REFERENCES `orgs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `cache_path_orgs_org_idx` ON `cache_path_orgs` (`org_id`);--> statement-breakpoint
CREATE TABLE `gc_journal` (
	`hash` text PRIMARY KEY NOT NULL,
	`nar_file` text NOT NULL,
	`run_id` integer NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `gc_pins` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`store_path` text NOT NULL,
	`name` text,
	`org_id` integer,
	`until` text,
	`created_by` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL,
	FOREIGN KEY (`org_id`) REFERENCES `orgs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `gc_pins_name_idx` ON `gc_pins` (`name`);--> statement-breakpoint
CREATE INDEX `gc_pins_path_idx` ON `gc_pins` (`store_path`);--> statement-breakpoint
CREATE TABLE `gc_runs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`state` text NOT NULL,
	`trigger` text NOT NULL,
	`org_id` integer,
	`paths` integer DEFAULT 0 NOT NULL,
	`bytes` integer DEFAULT 0 NOT NULL,
	`other` text DEFAULT '{}' NOT NULL,
	`error` text,
	`started_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL,
	`finished_at` text,
	FOREIGN KEY (`org_id`) REFERENCES `orgs`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE TABLE `org_retention` (
	`org_id` integer PRIMARY KEY NOT NULL,
	`keep_evaluations` integer,
	`keep_channel_days` integer,
	`quota_bytes` integer,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL,
	FOREIGN KEY (`org_id`) REFERENCES `orgs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `cache_paths` ADD `last_accessed_at` text;