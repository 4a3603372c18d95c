package transfer_test

import (
	"bytes"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/crmsuite/crm/pkg/sheet"
	"github.com/crmsuite/crm/services/customer/internal/transfer"
)

// TestOpenXLSXReadsAsExcelize compares the streaming sheet reader with excelize's row iterator
// (raw values), which the importer used before, on the cell kinds and texts that differ most:
// shared, rich and inline strings, numbers, booleans, dates, entities, line ends, the _xHHHH_
// escapes, skipped cells and rows.
func TestOpenXLSXReadsAsExcelize(t *testing.T) {
	t.Parallel()
	texts := []string{"杭州星辰科技有限公司", "a & b < c > d \"q\" 'a'", "line1\r\nline2\rline3\nline4", "tab\there",
		"_x000D_ literal", "under_x005F_x0041_score", "😀 emoji", "  spaced  ", "=not a formula here", "_x12", ""}

	// Shared strings, rich text, numbers, booleans and dates, as excelize (and Excel) write them.
	f := excelize.NewFile()
	for i, s := range texts {
		if err := f.SetCellStr("Sheet1", cell(t, 1, i+1), s); err != nil {
			t.Fatal(err)
		}
	}
	set := map[string]any{"C2": 13800138000, "C3": 3.25, "C4": true, "C5": false,
		"E7": time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), "H20": "far away"}
	for c, v := range set {
		if err := f.SetCellValue("Sheet1", c, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.SetCellRichText("Sheet1", "B1", []excelize.RichTextRun{{Text: "粗体"}, {Text: " & plain"}}); err != nil {
		t.Fatal(err)
	}
	var shared bytes.Buffer
	if err := f.Write(&shared); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()

	// Inline strings, as the exporter (pkg/sheet) writes them.
	var inline bytes.Buffer
	w, err := sheet.NewWriter(&inline, sheet.XLSX, "Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(texts); i += 3 {
		if err := w.Write(texts[i:min(i+3, len(texts))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	for name, data := range map[string][]byte{"shared": shared.Bytes(), "inline": inline.Bytes()} {
		t.Run(name, func(t *testing.T) {
			want := excelizeRows(t, data)
			sc, err := transfer.ScanXLSX(data, "", transfer.DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			rd, err := transfer.OpenXLSX(data, sc)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			got := map[int][]string{}
			for {
				n, cells, err := rd.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if cells = trimEmpty(cells); len(cells) > 0 {
					got[n] = slices.Clone(cells)
				}
			}
			if len(got) != len(want) {
				t.Errorf("rows %v, excelize %v", got, want)
			}
			for n, cells := range want {
				if !slices.Equal(got[n], cells) {
					t.Errorf("row %d: %q, excelize %q", n, got[n], cells)
				}
			}
		})
	}
}

func cell(t *testing.T, col, row int) string {
	t.Helper()
	c, err := excelize.CoordinatesToCellName(col, row)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// excelizeRows reads the first sheet with excelize's row iterator and raw values.
func excelizeRows(t *testing.T, data []byte) map[int][]string {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.Rows(f.GetSheetList()[0])
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][]string{}
	for n := 1; rows.Next(); n++ {
		cells, err := rows.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		if cells = trimEmpty(cells); len(cells) > 0 {
			out[n] = cells
		}
	}
	return out
}

func trimEmpty(cells []string) []string {
	for len(cells) > 0 && cells[len(cells)-1] == "" {
		cells = cells[:len(cells)-1]
	}
	return cells
}
