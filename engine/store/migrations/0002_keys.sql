CREATE TABLE "key_versions" (
	"key_name" text NOT NULL,
	"version" integer NOT NULL,
	"public_key" "bytea",
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "key_versions_key_name_version_pk" PRIMARY KEY("key_name","version")
);
--> statement-breakpoint
CREATE TABLE "keys" (
	"name" text PRIMARY KEY NOT NULL,
	"id" text NOT NULL,
	"type" text NOT NULL,
	"exportable" boolean DEFAULT false NOT NULL,
	"verify_only" boolean DEFAULT false NOT NULL,
	"labels" jsonb NOT NULL,
	"latest_version" integer NOT NULL,
	"min_decryption_version" integer DEFAULT 1 NOT NULL,
	"deletion_allowed" boolean DEFAULT false NOT NULL,
	"delete_after" timestamp with time zone,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "keys_id_unique" UNIQUE("id"),
	CONSTRAINT "keys_versions" CHECK ("keys"."latest_version" >= 1 AND "keys"."min_decryption_version" >= 1 AND "keys"."min_decryption_version" <= "keys"."latest_version")
);
--> statement-breakpoint
ALTER TABLE "key_versions" ADD CONSTRAINT "key_versions_key_name_keys_name_fk" FOREIGN KEY ("key_name") REFERENCES "public"."keys"("name") ON DELETE cascade ON UPDATE no action;