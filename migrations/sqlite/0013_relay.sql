CREATE TABLE `relay_sessions` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`org_id` integer NOT NULL,
	`token_id` integer,
	`actor` text NOT NULL,
	`host` text,
	`remote_address` text,
	`started_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL,
	`ended_at` text,
	`end_reason` text,
	FOREIGN KEY (`org_id`) REFERENCES `orgs`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`token_id`) REFERENCES `tokens`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE INDEX `relay_sessions_org_idx` ON `relay_sessions` (`org_id`,`id`);--> statement-breakpoint
CREATE TABLE `relay_wants` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`session_id` integer NOT NULL,
	`build_id` integer NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL,
	`withdrawn_at` text,
	FOREIGN KEY (`session_id`) REFERENCES `relay_sessions`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`build_id`) REFERENCES `builds`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `relay_wants_session_build_idx` ON `relay_wants` (`session_id`,`build_id`);--> statement-breakpoint
CREATE INDEX `relay_wants_build_idx` ON `relay_wants` (`build_id`);--> statement-breakpoint
ALTER TABLE `orgs` ADD `machine_builds` integer DEFAULT false NOT NULL;