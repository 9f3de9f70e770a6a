CREATE TABLE "server_secrets" (
	"name" text PRIMARY KEY NOT NULL,
	"public_value" text NOT NULL,
	"sealed" text,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
