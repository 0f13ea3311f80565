CREATE TABLE "approval_grants" (
	"approval_id" text NOT NULL,
	"principal" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "approval_grants_approval_id_principal_pk" PRIMARY KEY("approval_id","principal")
);
--> statement-breakpoint
CREATE TABLE "approvals" (
	"id" text PRIMARY KEY NOT NULL,
	"requester" text NOT NULL,
	"operation" text NOT NULL,
	"key" text,
	"method" text NOT NULL,
	"path" text NOT NULL,
	"request_digest" text NOT NULL,
	"policies" jsonb NOT NULL,
	"required" integer NOT NULL,
	"approver_group" text NOT NULL,
	"reason" text NOT NULL,
	"state" text DEFAULT 'pending' NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"denied_by" text,
	"deny_reason" text,
	"result_status" integer,
	"result_code" text,
	CONSTRAINT "approvals_state" CHECK ("approvals"."state" IN ('pending', 'denied', 'expired', 'executing', 'executed', 'failed')),
	CONSTRAINT "approvals_required" CHECK ("approvals"."required" >= 1)
);
--> statement-breakpoint
ALTER TABLE "approval_grants" ADD CONSTRAINT "approval_grants_approval_id_approvals_id_fk" FOREIGN KEY ("approval_id") REFERENCES "public"."approvals"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "approvals_pending_expiry" ON "approvals" USING btree ("expires_at") WHERE "approvals"."state" = 'pending';--> statement-breakpoint
CREATE INDEX "approvals_state_id" ON "approvals" USING btree ("state","id");