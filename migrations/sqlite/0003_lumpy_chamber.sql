CREATE TABLE `build_leases` (
	`build_id` integer PRIMARY KEY NOT NULL,
	`lease_id` text NOT NULL,
	`builder` text NOT NULL,
	`attempt` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`claimed_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL,
	FOREIGN KEY (`build_id`) REFERENCES `builds`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `build_leases_lease_idx` ON `build_leases` (`lease_id`);--> statement-breakpoint
CREATE INDEX `build_leases_expires_idx` ON `build_leases` (`expires_at`);--> statement-breakpoint
CREATE TABLE `build_results` (
	`build_id` integer PRIMARY KEY NOT NULL,
	`builder` text,
	`message` text,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL,
	FOREIGN KEY (`build_id`) REFERENCES `builds`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `builders` (
	`name` text PRIMARY KEY NOT NULL,
	`systems` text NOT NULL,
	`features` text NOT NULL,
	`max_jobs` integer NOT NULL,
	`last_seen` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL
);
