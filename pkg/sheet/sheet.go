// Package sheet writes spreadsheet files as rows arrive, in constant memory: CSV in UTF-8 with a
// byte-order mark (so that Excel shows Chinese correctly) and XLSX streamed straight onto the
// writer. Every text cell is neutralised against formula injection. The customer export and the
// follow-up, needs and feedback exports share it.
package sheet

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
)

// Neutralise makes a cell safe to open in a spreadsheet (CSV/formula injection): a cell starting
// with = + - @, or with a tab or carriage return that could hide one, gets a leading apostrophe,
// which spreadsheets read as "this is text". An import removes it again.
func Neutralise(s string) string {
	if s != "" && strings.IndexByte(FormulaLead, s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// Format is the kind of a file.
type Format string

// File formats.
const (
	CSV  Format = "csv"
	XLSX Format = "xlsx"
)

// FormulaLead are the characters that make a spreadsheet read a cell as a formula (or, for tab
// and carriage return, that hide such a character).
const FormulaLead = "=+-@\t\r"

var bomUTF8 = []byte{0xEF, 0xBB, 0xBF}

// Writer writes rows of text cells to a CSV or XLSX file as they come, in constant memory: CSV in
// UTF-8 with a byte-order mark and CRLF line ends, XLSX streamed sheet by sheet.
type Writer struct {
	csv  *csv.Writer
	xlsx *xlsxWriter
	// numeric marks the columns written as numbers in XLSX.
	numeric []bool
}

// NewWriter returns a writer of format f onto w. numericColumns are column indexes that XLSX
// writes as numbers when the cell parses as one (amounts), so that spreadsheets can sum them.
func NewWriter(w io.Writer, f Format, sheetName string, numericColumns ...int) (*Writer, error) {
	out := &Writer{}
	for _, i := range numericColumns {
		for len(out.numeric) <= i {
			out.numeric = append(out.numeric, false)
		}
		out.numeric[i] = true
	}
	switch f {
	case CSV:
		if _, err := w.Write(bomUTF8); err != nil {
			return nil, err
		}
		out.csv = csv.NewWriter(w)
		out.csv.UseCRLF = true
	case XLSX:
		out.xlsx = newXLSXWriter(w, sheetName)
	default:
		return nil, fmt.Errorf("sheet: unknown format %q", f)
	}
	return out, nil
}

// Write writes one row; the first row written is the header (repeated on every XLSX sheet).
// The cells are neutralised in place.
func (w *Writer) Write(cells []string) error {
	for i, c := range cells {
		// A number such as -12.5 is no formula; everything else is neutralised.
		if !w.isNumeric(i) || !isNumber(c) {
			cells[i] = Neutralise(c)
		}
	}
	if w.csv != nil {
		return w.csv.Write(cells)
	}
	return w.xlsx.write(cells, w.numeric)
}

func (w *Writer) isNumeric(i int) bool { return i < len(w.numeric) && w.numeric[i] }

// isNumber reports whether s is a plain decimal number: optional minus, digits, optional fraction.
func isNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	whole, frac, dot := strings.Cut(s, ".")
	return isDigits(whole) && (!dot || isDigits(frac))
}

// Close finishes the file. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.csv != nil {
		w.csv.Flush()
		return w.csv.Error()
	}
	return w.xlsx.close()
}

// ContentType returns the media type of a format.
func ContentType(f Format) string {
	if f == XLSX {
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	return "text/csv; charset=utf-8"
}

// isDigits reports whether s is one or more ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ColumnLetters returns a spreadsheet column name for a zero-based index: 0 → A, 26 → AA.
func ColumnLetters(i int) string {
	var b []byte
	for i++; i > 0; i = (i - 1) / 26 {
		b = append([]byte{byte('A' + (i-1)%26)}, b...)
	}
	return string(b)
}

// ChunkWriter cuts a byte stream into pieces of about 64 KiB for a streaming RPC: send gets each
// piece and must not keep it after it returns (a gRPC Send marshals the message before returning).
type ChunkWriter struct {
	send func([]byte) error
	buf  []byte
}

// ChunkSize is the size of the pieces a ChunkWriter sends.
const ChunkSize = 64 << 10

// NewChunkWriter returns a ChunkWriter that sends through send.
func NewChunkWriter(send func([]byte) error) *ChunkWriter {
	return &ChunkWriter{send: send, buf: make([]byte, 0, ChunkSize)}
}

func (w *ChunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), ChunkSize-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == ChunkSize {
			if err := w.Flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// Flush sends what is buffered.
func (w *ChunkWriter) Flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.send(w.buf)
	w.buf = w.buf[:0]
	return err
}
