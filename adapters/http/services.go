package http

import (
	"github.com/licensekit/licensekit/apikey"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/billing/subscription"
	"github.com/licensekit/licensekit/billing/volume"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/topup"
	"github.com/licensekit/licensekit/webhook"
)

// Services are the domain services the handler calls. A nil service is built
// from the handler's Store and Clock with its defaults; the default billing
// service covers enrolments beyond a site's licenses with automatic top-up
// (topup.Overflow) when the company has enabled it.
type Services struct {
	Billing *billing.Service
	Pools   *pool.Service
	TopUp   *topup.Service
	Volume  *volume.Service
	// Subscriptions serves the subscription routes; its Tick runs elsewhere
	// (the reference server runs it in the background).
	Subscriptions *subscription.Service
	// APIKeys authenticates requests and serves the API key routes.
	APIKeys *apikey.Service
	// Webhooks serves the webhook routes. Set it with the program's webhook
	// key (webhook.Service.Key) over a store wrapped with webhook.Wrap; the
	// default has no key and answers 503 to a registration or a rotation.
	Webhooks *webhook.Service
}

func (s *Services) fill(store storage.Store, clock license.Clock) {
	if s.Billing == nil {
		s.Billing = &billing.Service{Store: store, Clock: clock, Overflow: topup.Overflow()}
	}
	if s.Pools == nil {
		s.Pools = &pool.Service{Store: store, Clock: clock}
	}
	if s.TopUp == nil {
		s.TopUp = &topup.Service{Store: store, Clock: clock}
	}
	if s.Subscriptions == nil {
		s.Subscriptions = subscription.New(store, clock)
	}
	if s.APIKeys == nil {
		s.APIKeys = &apikey.Service{Store: store, Clock: clock}
	}
	if s.Webhooks == nil {
		s.Webhooks = &webhook.Service{Store: store, Clock: clock}
	}
	if s.Volume == nil {
		s.Volume = volume.New(store, clock)
	}
}
