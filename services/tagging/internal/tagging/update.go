package tagging

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crmsuite/crm/pkg/validate"
)

// Change is one changed field with its values before and after (nil for empty).
type Change struct {
	Field         string
	Before, After any
}

// field is one API field of an entity: how to read it for diffs and, when it may be updated, how
// to copy it from a patch.
type field[T any] struct {
	path string
	get  func(*T) any
	copy func(dst, src *T)
}

func str(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func deleteTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

var tagFields = []field[Tag]{
	{path: "category", get: func(t *Tag) any { return str(string(t.Category)) }},
	{path: "name", get: func(t *Tag) any { return str(t.Name) }, copy: func(d, s *Tag) { d.Name = s.Name }},
	{path: "description", get: func(t *Tag) any { return str(t.Description) }, copy: func(d, s *Tag) { d.Description = s.Description }},
	{path: "color", get: func(t *Tag) any { return str(t.Color) }, copy: func(d, s *Tag) { d.Color = s.Color }},
	{path: "level_value", get: func(t *Tag) any { return str(string(t.LevelValue)) }},
	{path: "delete_time", get: func(t *Tag) any { return deleteTime(t.DeletedAt) }},
}

var segmentFields = []field[Segment]{
	{path: "name", get: func(s *Segment) any { return str(s.Name) }, copy: func(d, s *Segment) { d.Name = s.Name }},
	{path: "description", get: func(s *Segment) any { return str(s.Description) }, copy: func(d, s *Segment) { d.Description = s.Description }},
	{path: "expression", get: func(s *Segment) any { return str(s.Expression) }, copy: func(d, s *Segment) { d.Expression = s.Expression }},
	{path: "delete_time", get: func(s *Segment) any { return deleteTime(s.DeletedAt) }},
}

func diff[T any](fields []field[T], before, after *T) []Change {
	var out []Change
	for _, f := range fields {
		var b any
		if before != nil {
			b = f.get(before)
		}
		a := f.get(after)
		if fmt.Sprint(b) != fmt.Sprint(a) {
			out = append(out, Change{Field: f.path, Before: b, After: a})
		}
	}
	return out
}

// DiffTag lists the fields that differ between two versions of a tag; a nil before lists every
// non-empty field of a new tag.
func DiffTag(before, after *Tag) []Change { return diff(tagFields, before, after) }

// DiffSegment lists the fields that differ between two versions of a segment.
func DiffSegment(before, after *Segment) []Change { return diff(segmentFields, before, after) }

func applyMask[T any](fields []field[T], dst, patch *T, paths []string) error {
	var v validate.Collector
	if len(paths) == 0 {
		v.Add("update_mask", validate.ReasonRequired, validate.Message{
			ZH: "update_mask 不能为空，请列出要修改的字段", EN: "update_mask is required: list the fields to change"})
	}
	for _, p := range paths {
		p = strings.TrimSpace(p)
		i := slices.IndexFunc(fields, func(f field[T]) bool { return f.path == p })
		if i < 0 || fields[i].copy == nil {
			v.Add("update_mask", validate.ReasonNotAllowed, validate.Message{
				ZH: "字段 " + p + " 不存在或不可修改", EN: "field " + p + " does not exist or cannot be changed"})
			continue
		}
		fields[i].copy(dst, patch)
	}
	return v.Err()
}

// ApplyMask copies the fields named in paths (name, description, color) from patch into t.
// Category and level value never change. Call Normalise and Validate afterwards.
func (t *Tag) ApplyMask(patch *Tag, paths []string) error {
	return applyMask(tagFields, t, patch, paths)
}

// ApplyMask copies the fields named in paths (name, description, expression) from patch into s.
// Call Normalise and Validate afterwards.
func (s *Segment) ApplyMask(patch *Segment, paths []string) error {
	return applyMask(segmentFields, s, patch, paths)
}
