CREATE TABLE `web_sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`token_id` integer NOT NULL,
	`csrf` text NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL,
	`expires_at` text NOT NULL,
	FOREIGN KEY (`token_id`) REFERENCES `tokens`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `web_sessions_token_idx` ON `web_sessions` (`token_id`);