package main

import (
	"context"
	"fmt"
	"time"

	"kabinet/internal/audit"
)

func auditCommand(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			fmt.Fprintln(e.stdout, "Usage: kabinet audit verify|export [flags]\n\n  verify   check the hash chain and the signed checkpoints; name the first bad entry\n  export   write the entries of a subject and time range as JSON Lines")
			return nil
		}
		fmt.Fprintln(e.stderr, "Usage: kabinet audit verify|export [flags]")
		return errUsage
	}
	if args[0] == "verify" {
		return auditVerify(ctx, e, args[1:])
	}
	return auditExport(ctx, e, args[1:])
}

func auditVerify(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "audit verify", "audit verify [flags]\n\nRecomputes every entry's hash and link and checks every checkpoint's\nsignature; prints the first bad entry and exits 1 if the log was altered.")
	cf := addConfigFlags(fs, e, false)
	if done, err := parse(e, fs, args); done {
		return err
	}
	cfg, db, err := cf.openDatabase(ctx, e)
	if err != nil {
		return err
	}
	defer db.Close()
	keys, err := loadAuditKeys(cfg.Keys.AuditFile)
	if err != nil {
		return fmt.Errorf("audit keys: %w", err)
	}
	bar := newProgress(e, "verify")
	rep, err := audit.Verify(ctx, db, keys.public(), bar.update)
	bar.finish()
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, rep.String())
	if !rep.OK {
		return errInvalid
	}
	return nil
}

func auditExport(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "audit export", "audit export --subject ID [--from DATE] [--to DATE] [--action PREFIX] [flags]\n\nWrites the matching audit entries as JSON Lines to standard output: the\nevent-log extract that goes with an act of destruction. Dates are\nYYYY-MM-DD or RFC 3339; the range is [from, to).")
	cf := addConfigFlags(fs, e, false)
	subject := fs.String("subject", "", "subject `id` (empty: every subject)")
	from := fs.String("from", "", "start of the range, inclusive")
	to := fs.String("to", "", "end of the range, exclusive")
	action := fs.String("action", "", "action prefix, e.g. pd or consent.given")
	if done, err := parse(e, fs, args); done {
		return err
	}
	f := audit.Filter{Subject: *subject, Action: *action}
	var err error
	if f.From, err = parseWhen(*from); err != nil {
		fmt.Fprintln(e.stderr, "--from:", err)
		return errUsage
	}
	if f.To, err = parseWhen(*to); err != nil {
		fmt.Fprintln(e.stderr, "--to:", err)
		return errUsage
	}
	_, db, err := cf.openDatabase(ctx, e)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := audit.Export(ctx, db, f, e.stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "exported %d entries\n", n)
	return nil
}

func parseWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}
