CREATE TABLE `profile_schedules` (
	`profile_id` integer PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`cron` text,
	`jitter_seconds` integer DEFAULT 0 NOT NULL,
	`last_run_at` text,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL,
	FOREIGN KEY (`profile_id`) REFERENCES `profiles`(`id`) ON UPDATE no action ON DELETE cascade
);
