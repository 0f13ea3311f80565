CREATE TABLE "barrier_entries" (
	"path" text PRIMARY KEY NOT NULL,
	"blob" "bytea" NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "keyring" (
	"id" integer PRIMARY KEY DEFAULT 1 NOT NULL,
	"blob" "bytea" NOT NULL,
	"active_term" integer NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "keyring_singleton" CHECK ("keyring"."id" = 1),
	CONSTRAINT "keyring_active_term_positive" CHECK ("keyring"."active_term" >= 1)
);
--> statement-breakpoint
CREATE TABLE "seal_config" (
	"id" integer PRIMARY KEY DEFAULT 1 NOT NULL,
	"ceremony_id" text NOT NULL,
	"generation" integer NOT NULL,
	"threshold" integer NOT NULL,
	"shares" integer NOT NULL,
	"holders" jsonb NOT NULL,
	"root_key_blob" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "seal_config_singleton" CHECK ("seal_config"."id" = 1),
	CONSTRAINT "seal_config_generation_positive" CHECK ("seal_config"."generation" >= 1),
	CONSTRAINT "seal_config_quorum" CHECK ("seal_config"."threshold" >= 1 AND "seal_config"."threshold" <= "seal_config"."shares" AND "seal_config"."shares" <= 255)
);
--> statement-breakpoint
CREATE TABLE "shard_commitments" (
	"ceremony_id" text NOT NULL,
	"idx" integer NOT NULL,
	"holder" text NOT NULL,
	"fingerprint" text NOT NULL,
	"commitment" "bytea" NOT NULL,
	CONSTRAINT "shard_commitments_ceremony_id_idx_pk" PRIMARY KEY("ceremony_id","idx"),
	CONSTRAINT "shard_commitments_idx_range" CHECK ("shard_commitments"."idx" >= 0 AND "shard_commitments"."idx" <= 255)
);
--> statement-breakpoint
CREATE TABLE "tokens" (
	"id" text PRIMARY KEY NOT NULL,
	"token_hash" "bytea" NOT NULL,
	"principal" text NOT NULL,
	"roles" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	"created_by" text,
	CONSTRAINT "tokens_token_hash_unique" UNIQUE("token_hash")
);
