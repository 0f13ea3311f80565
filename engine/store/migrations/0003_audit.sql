CREATE TABLE "audit_checkpoints" (
	"size" bigint PRIMARY KEY NOT NULL,
	"root" "bytea" NOT NULL,
	"note" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit_head" (
	"id" integer PRIMARY KEY DEFAULT 1 NOT NULL,
	"size" bigint NOT NULL,
	"chain" "bytea" NOT NULL,
	"prev_chain" "bytea" NOT NULL,
	CONSTRAINT "audit_head_singleton" CHECK ("audit_head"."id" = 1),
	CONSTRAINT "audit_head_size" CHECK ("audit_head"."size" >= 0)
);
--> statement-breakpoint
CREATE TABLE "audit_inputs" (
	"digest" text PRIMARY KEY NOT NULL,
	"blob" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit_nodes" (
	"level" integer NOT NULL,
	"idx" bigint NOT NULL,
	"hash" "bytea" NOT NULL,
	CONSTRAINT "audit_nodes_level_idx_pk" PRIMARY KEY("level","idx")
);
--> statement-breakpoint
CREATE TABLE "audit_records" (
	"idx" bigint PRIMARY KEY NOT NULL,
	"leaf" "bytea" NOT NULL,
	"chain" "bytea" NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit_tree" (
	"id" integer PRIMARY KEY DEFAULT 1 NOT NULL,
	"size" bigint NOT NULL,
	"root" "bytea" NOT NULL,
	"frontier" "bytea" NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "audit_tree_singleton" CHECK ("audit_tree"."id" = 1)
);
