module github.com/crmsuite/crm/services/feedback

go 1.26.8

require (
	github.com/crmsuite/crm/pkg v0.0.0
	github.com/crmsuite/crm/proto v0.0.0
)

replace github.com/crmsuite/crm/pkg => ../../pkg

replace github.com/crmsuite/crm/proto => ../../proto
