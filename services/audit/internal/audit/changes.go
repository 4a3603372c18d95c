package audit

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
)

// EncodeChanges is the canonical encoding of changed fields: each FieldChange marshalled with
// deterministic protobuf (map keys of struct values sorted) and prefixed with its length as a
// varint, in the order given. An empty list encodes as no bytes.
//
// The bytes are computed once, when the event is recorded, and stored as they are; hashing the
// stored bytes means a later protobuf release that marshals differently cannot break old links.
func EncodeChanges(changes []*commonv1.FieldChange) ([]byte, error) {
	// One buffer of the right size for all: Size leaves each message's size cached, and
	// MarshalAppend uses it (UseCachedSize) instead of computing it again.
	opts := proto.MarshalOptions{Deterministic: true, UseCachedSize: true}
	sizes := make([]int, len(changes))
	total := 0
	for i, c := range changes {
		sizes[i] = opts.Size(c)
		total += protowire.SizeVarint(uint64(sizes[i])) + sizes[i]
	}
	b := make([]byte, 0, total)
	for i, c := range changes {
		b = protowire.AppendVarint(b, uint64(sizes[i]))
		var err error
		if b, err = opts.MarshalAppend(b, c); err != nil {
			return nil, fmt.Errorf("encode change %d: %w", i, err)
		}
	}
	return b, nil
}

// DecodeChanges reverses EncodeChanges.
func DecodeChanges(b []byte) ([]*commonv1.FieldChange, error) {
	var changes []*commonv1.FieldChange
	for len(b) > 0 {
		m, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, fmt.Errorf("decode change %d: %w", len(changes), protowire.ParseError(n))
		}
		c := new(commonv1.FieldChange)
		if err := proto.Unmarshal(m, c); err != nil {
			return nil, fmt.Errorf("decode change %d: %w", len(changes), err)
		}
		changes = append(changes, c)
		b = b[n:]
	}
	return changes, nil
}
