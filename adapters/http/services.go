package http

import (
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// Services are the domain services the handler calls. A nil service is built
// from the handler's Store and Clock with its defaults.
type Services struct {
	Billing *billing.Service
}

func (s *Services) fill(store storage.Store, clock license.Clock) {
	if s.Billing == nil {
		s.Billing = &billing.Service{Store: store, Clock: clock}
	}
}
