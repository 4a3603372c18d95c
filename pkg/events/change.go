package events

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"

	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// maxExactInt is the largest integer a JSON number (float64) holds exactly; larger ones are written
// as decimal strings so that no digit is lost.
const maxExactInt = 1 << 53

// Change builds one entry of an event's changes: field (the API's snake_case name) with its value
// before and after. Values convert to google.protobuf.Value as follows: nil and nil pointers →
// null; time.Time → RFC 3339 string in UTC (the zero time → null); proto messages → their
// protojson form; fmt.Stringer (enums, ids) → its string; strings, bools, integers and floats →
// themselves (integers beyond ±2^53 as decimal strings); slices → lists; maps with string keys →
// structs. Anything else is an error.
func Change(field string, before, after any) (*commonv1.FieldChange, error) {
	if field == "" {
		return nil, fmt.Errorf("events: change: empty field name")
	}
	b, err := value(before)
	if err != nil {
		return nil, fmt.Errorf("events: change %s: before: %w", field, err)
	}
	a, err := value(after)
	if err != nil {
		return nil, fmt.Errorf("events: change %s: after: %w", field, err)
	}
	return &commonv1.FieldChange{Field: field, Before: b, After: a}, nil
}

// value converts v to a structpb.Value as Change documents.
func value(v any) (*structpb.Value, error) {
	if v == nil {
		return structpb.NewNullValue(), nil
	}
	rv := reflect.ValueOf(v)
	// Dereference pointers first, so *string and *time.Time work and nil pointers are null.
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return structpb.NewNullValue(), nil
		}
		if _, ok := v.(proto.Message); ok {
			break // proto messages are pointers; convert them whole
		}
		rv = rv.Elem()
		v = rv.Interface()
	}
	switch x := v.(type) {
	case *structpb.Value:
		return x, nil
	case time.Time:
		if x.IsZero() {
			return structpb.NewNullValue(), nil
		}
		return structpb.NewStringValue(x.UTC().Format(time.RFC3339Nano)), nil
	case proto.Message:
		js, err := protojson.Marshal(x)
		if err != nil {
			return nil, fmt.Errorf("protojson: %w", err)
		}
		out := &structpb.Value{}
		if err := protojson.Unmarshal(js, out); err != nil {
			return nil, fmt.Errorf("protojson to value: %w", err)
		}
		return out, nil
	case fmt.Stringer:
		return structpb.NewStringValue(x.String()), nil
	case []byte:
		return nil, fmt.Errorf("unsupported type []byte")
	}
	switch rv.Kind() {
	case reflect.String:
		return structpb.NewStringValue(rv.String()), nil
	case reflect.Bool:
		return structpb.NewBoolValue(rv.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i := rv.Int()
		if i > maxExactInt || i < -maxExactInt {
			return structpb.NewStringValue(strconv.FormatInt(i, 10)), nil
		}
		return structpb.NewNumberValue(float64(i)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > maxExactInt {
			return structpb.NewStringValue(strconv.FormatUint(u, 10)), nil
		}
		return structpb.NewNumberValue(float64(u)), nil
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("number %v has no JSON form", f)
		}
		return structpb.NewNumberValue(f), nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return structpb.NewNullValue(), nil
		}
		list := &structpb.ListValue{Values: make([]*structpb.Value, rv.Len())}
		for i := range rv.Len() {
			item, err := value(rv.Index(i).Interface())
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			list.Values[i] = item
		}
		return structpb.NewListValue(list), nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("unsupported map key type %s", rv.Type().Key())
		}
		if rv.IsNil() {
			return structpb.NewNullValue(), nil
		}
		st := &structpb.Struct{Fields: make(map[string]*structpb.Value, rv.Len())}
		iter := rv.MapRange()
		for iter.Next() {
			item, err := value(iter.Value().Interface())
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", iter.Key().String(), err)
			}
			st.Fields[iter.Key().String()] = item
		}
		return structpb.NewStructValue(st), nil
	}
	return nil, fmt.Errorf("unsupported type %T", v)
}
