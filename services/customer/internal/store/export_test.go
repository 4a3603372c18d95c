package store

// SearchQuery exposes the SQL of a search to the tests of its plans.
var SearchQuery = searchQuery
