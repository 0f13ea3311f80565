CREATE TABLE "policies" (
	"sha256" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"wasm" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_by" text,
	CONSTRAINT "policies_sha256_hex" CHECK ("policies"."sha256" ~ '^[0-9a-f]{64}$')
);
--> statement-breakpoint
CREATE TABLE "policy_bindings" (
	"sha256" text NOT NULL,
	"scope" text NOT NULL,
	"target" text NOT NULL,
	"activated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"activated_by" text,
	CONSTRAINT "policy_bindings_sha256_scope_target_pk" PRIMARY KEY("sha256","scope","target"),
	CONSTRAINT "policy_bindings_scope" CHECK (("policy_bindings"."scope" = 'global' AND "policy_bindings"."target" = '') OR ("policy_bindings"."scope" = 'key' AND "policy_bindings"."target" <> ''))
);
--> statement-breakpoint
ALTER TABLE "policy_bindings" ADD CONSTRAINT "policy_bindings_sha256_policies_sha256_fk" FOREIGN KEY ("sha256") REFERENCES "public"."policies"("sha256") ON DELETE no action ON UPDATE no action;