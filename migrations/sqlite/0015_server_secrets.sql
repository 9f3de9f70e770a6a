CREATE TABLE `server_secrets` (
	`name` text PRIMARY KEY NOT NULL,
	`public_value` text NOT NULL,
	`sealed` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) NOT NULL
);
