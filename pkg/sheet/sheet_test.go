package sheet_test

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/crmsuite/crm/pkg/sheet"
)

func TestNeutralise(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"=1+1": "'=1+1", "+86": "'+86", "-2": "'-2", "@SUM(A1)": "'@SUM(A1)", "\tx": "'\tx",
		"\r=x": "'\r=x", "abc": "abc", "": "", "a=b": "a=b"} {
		if got := sheet.Neutralise(in); got != want {
			t.Errorf("Neutralise(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestColumnLetters(t *testing.T) {
	t.Parallel()
	for i, want := range map[int]string{0: "A", 25: "Z", 26: "AA", 51: "AZ", 52: "BA", 701: "ZZ", 702: "AAA"} {
		if got := sheet.ColumnLetters(i); got != want {
			t.Errorf("ColumnLetters(%d) = %q, want %q", i, got, want)
		}
	}
}

func TestCSVHasBOMAndNeutralisedCells(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, err := sheet.NewWriter(&buf, sheet.CSV, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range [][]string{{"名称", "金额"}, {"=cmd()", "-12.50"}, {"@x", "-1+1"}} {
		if err := w.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if !bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}) || !bytes.Contains(b, []byte("\r\n")) {
		t.Fatalf("want a BOM and CRLF line ends: %q", b)
	}
	rows, err := csv.NewReader(bytes.NewReader(b[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// A number in a numeric column stays a number; anything else that starts like a formula is text.
	want := [][]string{{"名称", "金额"}, {"'=cmd()", "-12.50"}, {"'@x", "'-1+1"}}
	if !slices.EqualFunc(rows, want, slices.Equal) {
		t.Fatalf("rows %q, want %q", rows, want)
	}
}

// readXLSX returns each sheet's name and cell texts, in order, from an XLSX file.
func readXLSX(t *testing.T, data []byte) (names []string, sheets [][][]string) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	open := func(name string) []byte {
		f, err := zr.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		return b
	}
	var wb struct {
		Sheets []struct {
			Name string `xml:"name,attr"`
		} `xml:"sheets>sheet"`
	}
	if err := xml.Unmarshal(open("xl/workbook.xml"), &wb); err != nil {
		t.Fatal(err)
	}
	for i, s := range wb.Sheets {
		names = append(names, s.Name)
		var ws struct {
			Rows []struct {
				Cells []struct {
					Type   string `xml:"t,attr"`
					Value  string `xml:"v"`
					Inline string `xml:"is>t"`
				} `xml:"c"`
			} `xml:"sheetData>row"`
		}
		if err := xml.Unmarshal(open("xl/worksheets/sheet"+string(rune('1'+i))+".xml"), &ws); err != nil {
			t.Fatal(err)
		}
		var rows [][]string
		for _, r := range ws.Rows {
			var cells []string
			for _, c := range r.Cells {
				if c.Type == "inlineStr" {
					cells = append(cells, c.Inline)
				} else {
					cells = append(cells, "#"+c.Value)
				}
			}
			rows = append(rows, cells)
		}
		sheets = append(sheets, rows)
	}
	return names, sheets
}

func TestXLSXStreamsWellFormedWorkbook(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, err := sheet.NewWriter(&buf, sheet.XLSX, "跟进记录 & <备注>", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range [][]string{{"内容", "金额"}, {"=1+1", "1234.5"}, {"a<b>&c\x01", "不是数字"}} {
		if err := w.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	names, sheets := readXLSX(t, buf.Bytes())
	if !slices.Equal(names, []string{"跟进记录 & <备注>"}) {
		t.Fatalf("sheets %q", names)
	}
	want := [][]string{{"内容", "金额"}, {"'=1+1", "#1234.5"}, {"a<b>&c", "不是数字"}}
	if !slices.EqualFunc(sheets[0], want, slices.Equal) {
		t.Fatalf("cells %q, want %q", sheets[0], want)
	}
}

func TestChunkWriterSendsBoundedPieces(t *testing.T) {
	t.Parallel()
	var got [][]byte
	w := sheet.NewChunkWriter(func(b []byte) error {
		got = append(got, bytes.Clone(b))
		return nil
	})
	data := strings.Repeat("客户x", 2*sheet.ChunkSize/7+10) // two full pieces and a bit
	if _, err := io.WriteString(w, data); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || len(got[0]) != sheet.ChunkSize || string(bytes.Join(got, nil)) != data {
		t.Fatalf("%d pieces, first %d bytes", len(got), len(got[0]))
	}
}
