CREATE TABLE `change_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`kind` text NOT NULL,
	`profile_id` integer,
	`jobset_id` integer,
	`action` text NOT NULL,
	`generation` integer,
	`from_generation` integer,
	`store_path` text,
	`jitter_seconds` integer DEFAULT 0 NOT NULL,
	`point_id` integer,
	`evaluation_id` integer,
	`commit_sha` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL,
	FOREIGN KEY (`profile_id`) REFERENCES `profiles`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`jobset_id`) REFERENCES `jobsets`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `change_events_profile_idx` ON `change_events` (`profile_id`,`id`);--> statement-breakpoint
CREATE INDEX `change_events_jobset_idx` ON `change_events` (`jobset_id`,`id`);--> statement-breakpoint
CREATE TABLE `machine_profiles` (
	`machine_id` integer NOT NULL,
	`profile_id` integer NOT NULL,
	`running` integer,
	`generation` integer NOT NULL,
	`status` text NOT NULL,
	`message` text,
	`reported_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL,
	PRIMARY KEY(`machine_id`, `profile_id`),
	FOREIGN KEY (`machine_id`) REFERENCES `machines`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`profile_id`) REFERENCES `profiles`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `machine_profiles_profile_idx` ON `machine_profiles` (`profile_id`);--> statement-breakpoint
CREATE TABLE `machines` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`org_id` integer NOT NULL,
	`name` text NOT NULL,
	`token_id` integer NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL,
	`last_seen_at` text,
	FOREIGN KEY (`org_id`) REFERENCES `orgs`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`token_id`) REFERENCES `tokens`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `machines_org_name_idx` ON `machines` (`org_id`,`name`);--> statement-breakpoint
CREATE UNIQUE INDEX `machines_token_idx` ON `machines` (`token_id`);--> statement-breakpoint
CREATE TABLE `subscriptions` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`machine_id` integer NOT NULL,
	`profile_id` integer,
	`jobset_id` integer,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL,
	FOREIGN KEY (`machine_id`) REFERENCES `machines`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`profile_id`) REFERENCES `profiles`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`jobset_id`) REFERENCES `jobsets`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `subscriptions_machine_profile_idx` ON `subscriptions` (`machine_id`,`profile_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `subscriptions_machine_jobset_idx` ON `subscriptions` (`machine_id`,`jobset_id`);--> statement-breakpoint
CREATE INDEX `subscriptions_profile_idx` ON `subscriptions` (`profile_id`);--> statement-breakpoint
CREATE INDEX `subscriptions_jobset_idx` ON `subscriptions` (`jobset_id`);