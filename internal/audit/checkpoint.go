package audit

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"kabinet/internal/sqldb"
)

// Checkpoint is a signed statement that the chain's entry Seq has hash
// Hash: whoever holds the key vouches for every entry up to Seq, so entries
// up to it cannot be rewritten — even with the hashes recomputed — without
// Verify noticing.
type Checkpoint struct {
	Seq       int64
	Hash      []byte
	Time      time.Time
	KeyID     string
	Signature []byte // Ed25519 over checkpointMessage
}

const checkpointDomain = "kabinet/audit/checkpoint/v1"

// checkpointMessage is what a checkpoint's signature covers: seq, hash,
// time and key id, in the same length-prefixed encoding as entries.
func checkpointMessage(seq int64, hash []byte, t time.Time, keyID string) []byte {
	var b encoder
	b.str(checkpointDomain)
	b.i64(seq)
	b.bytes(hash)
	b.time(t)
	b.str(keyID)
	return b.buf
}

// Checkpoint signs the chain's current head and stores the checkpoint,
// unless one for that entry exists already, and returns the checkpoint of
// the head. On an empty chain it does nothing and returns a zero
// Checkpoint. The writer calls it every CheckpointInterval and on Close.
func (l *Log) Checkpoint(ctx context.Context) (Checkpoint, error) {
	var (
		cp      Checkpoint
		written bool
	)
	appended := l.appended.Load()
	err := l.db.InTx(ctx, func(tx *sql.Tx) error {
		written = false
		h, err := l.lockHead(ctx, tx)
		if err != nil || h.seq == 0 {
			return err
		}
		var at int64
		err = tx.QueryRowContext(ctx, "SELECT seq, hash, at, key_id, signature FROM audit_checkpoints WHERE seq = $1", h.seq).
			Scan(&cp.Seq, &cp.Hash, &at, &cp.KeyID, &cp.Signature)
		if err == nil {
			cp.Time = sqldb.FromMicros(at)
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read checkpoint %d: %w", h.seq, err)
		}
		cp, err = l.insertCheckpoint(ctx, tx, h.seq, h.hash)
		written = err == nil
		return err
	})
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint: %w", err)
	}
	l.checkpointedAt.Store(appended)
	if written {
		l.logCheckpoint(&cp, "audit checkpoint written")
	}
	return cp, nil
}

// insertCheckpoint signs (seq, hash) and stores it in tx. Another process
// may have checkpointed the same entry already; then its checkpoint stands.
func (l *Log) insertCheckpoint(ctx context.Context, tx *sql.Tx, seq int64, hash []byte) (Checkpoint, error) {
	t := sqldb.FromMicros(sqldb.Micros(l.clock()))
	cp := Checkpoint{Seq: seq, Hash: hash, Time: t, KeyID: l.keyID}
	cp.Signature = ed25519.Sign(l.signer, checkpointMessage(seq, hash, t, l.keyID))
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING`,
		cp.Seq, cp.Hash, sqldb.Micros(t), cp.KeyID, cp.Signature); err != nil {
		return Checkpoint{}, fmt.Errorf("insert audit checkpoint %d: %w", seq, err)
	}
	l.checkpointedAt.Store(l.appended.Load())
	return cp, nil
}
