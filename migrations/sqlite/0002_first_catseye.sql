CREATE TABLE `build_deps` (
	`build_id` integer NOT NULL,
	`depends_on` integer NOT NULL,
	PRIMARY KEY(`build_id`, `depends_on`),
	FOREIGN KEY (`build_id`) REFERENCES `builds`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`depends_on`) REFERENCES `builds`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `build_deps_depends_on_idx` ON `build_deps` (`depends_on`);--> statement-breakpoint
CREATE TABLE `builds` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`drv_path` text NOT NULL,
	`system` text NOT NULL,
	`required_features` text NOT NULL,
	`outputs` text NOT NULL,
	`state` text NOT NULL,
	`priority` integer DEFAULT 0 NOT NULL,
	`timeout_seconds` integer DEFAULT 36000 NOT NULL,
	`max_silent_seconds` integer DEFAULT 7200 NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL,
	`started_at` text,
	`finished_at` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `builds_drv_path_idx` ON `builds` (`drv_path`);--> statement-breakpoint
CREATE INDEX `builds_state_idx` ON `builds` (`state`);--> statement-breakpoint
CREATE TABLE `eval_jobs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`evaluation_id` integer NOT NULL,
	`attr` text NOT NULL,
	`name` text NOT NULL,
	`system` text NOT NULL,
	`drv_path` text NOT NULL,
	`outputs` text NOT NULL,
	`build_id` integer NOT NULL,
	FOREIGN KEY (`evaluation_id`) REFERENCES `evaluations`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`build_id`) REFERENCES `builds`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `eval_jobs_eval_attr_idx` ON `eval_jobs` (`evaluation_id`,`attr`);--> statement-breakpoint
CREATE INDEX `eval_jobs_build_idx` ON `eval_jobs` (`build_id`);--> statement-breakpoint
CREATE TABLE `eval_problems` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`evaluation_id` integer NOT NULL,
	`attr` text,
	`path` text NOT NULL,
	`line` integer NOT NULL,
	`message` text NOT NULL,
	`hint` text,
	FOREIGN KEY (`evaluation_id`) REFERENCES `evaluations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `eval_problems_eval_idx` ON `eval_problems` (`evaluation_id`);--> statement-breakpoint
CREATE TABLE `evaluations` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`jobset_id` integer NOT NULL,
	`push_id` integer NOT NULL,
	`commit_sha` text NOT NULL,
	`state` text NOT NULL,
	`error` text,
	`job_count` integer DEFAULT 0 NOT NULL,
	`problem_count` integer DEFAULT 0 NOT NULL,
	`new_builds` integer DEFAULT 0 NOT NULL,
	`shared_builds` integer DEFAULT 0 NOT NULL,
	`cached_builds` integer DEFAULT 0 NOT NULL,
	`failed_builds` integer DEFAULT 0 NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL,
	`started_at` text,
	`finished_at` text,
	FOREIGN KEY (`jobset_id`) REFERENCES `jobsets`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`push_id`) REFERENCES `pushes`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `evaluations_push_idx` ON `evaluations` (`push_id`);--> statement-breakpoint
CREATE INDEX `evaluations_jobset_idx` ON `evaluations` (`jobset_id`,`id`);--> statement-breakpoint
CREATE INDEX `evaluations_state_idx` ON `evaluations` (`state`);--> statement-breakpoint
CREATE TABLE `jobsets` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`org_id` integer NOT NULL,
	`branch` text NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL,
	FOREIGN KEY (`org_id`) REFERENCES `orgs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `jobsets_org_branch_idx` ON `jobsets` (`org_id`,`branch`);