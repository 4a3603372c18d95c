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
	opts := proto.MarshalOptions{Deterministic: true}
	var b []byte
	for i, c := range changes {
		m, err := opts.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("encode change %d: %w", i, err)
		}
		b = protowire.AppendBytes(b, m)
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
