// Package transfer reads and writes customer files (批量导入 / 导出): CSV in UTF-8 (with or without
// BOM), GB18030 (what Chinese Excel writes) or UTF-16 with BOM, and XLSX; it detects the encoding,
// maps Chinese or English column headers to fields, turns rows into validated customers with
// per-row, per-column issues, finds duplicates within a file, and writes CSV and XLSX exports with
// formula cells neutralised.
//
// It is pure Go over io.Reader and io.Writer: no database, gRPC or NATS imports. The store runs
// import jobs with it; the server streams exports through it.
package transfer

import (
	"fmt"

	"github.com/crmsuite/crm/pkg/sheet"
	"github.com/crmsuite/crm/pkg/validate"
)

// Format is the kind of a file.
type Format = sheet.Format

// File formats.
const (
	FormatCSV  = sheet.CSV
	FormatXLSX = sheet.XLSX
)

// Kind says what happened to a row with an issue.
type Kind string

// Issue kinds.
const (
	// KindError: the row is invalid and was not imported.
	KindError Kind = "error"
	// KindDuplicate: the row duplicates an existing customer or an earlier row and was skipped.
	KindDuplicate Kind = "duplicate"
)

// Reasons of issues and file errors beyond the validation reasons of pkg/validate.
const (
	ReasonDuplicateExisting = "DUPLICATE_EXISTING"
	ReasonDuplicateInFile   = "DUPLICATE_IN_FILE"
	ReasonFormula           = "FORMULA_NOT_ALLOWED"
	ReasonMaskedValue       = "MASKED_VALUE"
	ReasonEncoding          = "ENCODING_UNSUPPORTED"
	ReasonXLSXBroken        = "XLSX_BROKEN"
	ReasonXLSUnsupported    = "XLS_UNSUPPORTED"
	ReasonCSVMalformed      = "CSV_MALFORMED"
	ReasonFileEmpty         = "FILE_EMPTY"
	ReasonHeaderNotFound    = "HEADER_NOT_FOUND"
	ReasonMissingColumns    = "MISSING_COLUMNS"
	ReasonDuplicateColumns  = "DUPLICATE_COLUMNS"
	ReasonTooManyRows       = "TOO_MANY_ROWS"
	ReasonSheetNotFound     = "SHEET_NOT_FOUND"
)

// Issue is one problem with one row, or with one cell of a file refused as a whole.
type Issue struct {
	// Row is the row number as the user sees it in the file; the header is row 1 when it is the
	// first line.
	Row int
	// Column is the column's header as written in the file; empty when the file has no column for
	// the field.
	Column string
	// Field is the API field path, e.g. "mobile" or "address.province".
	Field   string
	Reason  string
	Message validate.Message
	Kind    Kind
}

// FileError refuses a file as a whole: nothing of it is imported. Issues point at the cells at
// fault where there are such (formulas).
type FileError struct {
	Reason  string
	Message validate.Message
	Issues  []Issue
}

func (e *FileError) Error() string {
	return fmt.Sprintf("import file refused: %s: %s", e.Reason, e.Message.EN)
}

func fileError(reason, zh, en string) *FileError {
	return &FileError{Reason: reason, Message: validate.Message{ZH: zh, EN: en}}
}
