package store

import "context"

// SearchQuery exposes the SQL of a search to the tests of its plans.
var SearchQuery = searchQuery

// SetImportBatch sets how many rows an import checks and writes together.
func SetImportBatch(t *Transfer, n int) { t.batch = n }

// BeforeImportInsert runs fn after each import batch's duplicate check, before its insert, with
// the file row of the batch's first new customer.
func BeforeImportInsert(t *Transfer, fn func(ctx context.Context, firstRow int)) { t.beforeInsert = fn }
