package audit

import "iter"

// Reasons a chain is broken, as reported by VerifyAuditChain.
const (
	// ReasonHashMismatch: the record's hash is not the hash of its prev_hash and content, so its
	// content (or its hash) was altered.
	ReasonHashMismatch = "HASH_MISMATCH"
	// ReasonPrevHashMismatch: the record's prev_hash is not its predecessor's hash, so a record
	// before it was replaced or removed and the sequence renumbered.
	ReasonPrevHashMismatch = "PREV_HASH_MISMATCH"
	// ReasonSequenceGap: the record does not follow its predecessor's sequence by one (the
	// first record is not 1), so records were removed.
	ReasonSequenceGap = "SEQUENCE_GAP"
)

// Verification is the outcome of checking a chain.
type Verification struct {
	// OK is true when every record checked links to its predecessor and matches its hash.
	OK bool
	// Checked counts the records examined, including the broken one.
	Checked int64
	// FirstBrokenSequence is the sequence of the first record that fails (0 when OK).
	FirstBrokenSequence int64
	// Reason is one of the Reason constants ("" when OK).
	Reason string
}

// Verify walks records in sequence order and stops at the first broken link. For each record it
// checks, in this order, that the sequence follows its predecessor's by one (from 1), that its
// prev_hash is its predecessor's stored hash (GenesisHash for the first), and that its hash is
// the hash of its prev_hash and content. An error from the iterator stops the walk and is
// returned with what was verified so far.
func Verify(records iter.Seq2[Record, error]) (Verification, error) {
	var v Verification
	prev := Link{Hash: GenesisHash}
	for r, err := range records {
		if err != nil {
			return v, err
		}
		v.Checked++
		reason := check(prev, r)
		if reason != "" {
			v.FirstBrokenSequence = r.Sequence
			v.Reason = reason
			return v, nil
		}
		prev = r.Head()
	}
	v.OK = true
	return v, nil
}

// check returns why r does not follow prev, or "".
func check(prev Link, r Record) string {
	switch {
	case r.Sequence != prev.Sequence+1:
		return ReasonSequenceGap
	case r.PrevHash != prev.Hash:
		return ReasonPrevHashMismatch
	case r.Hash != Hash(r.PrevHash, r.Sequence, r.Entry):
		return ReasonHashMismatch
	}
	return ""
}
