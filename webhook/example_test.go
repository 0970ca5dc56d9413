package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/webhook"
)

// A receiver checks each request with Verify before it trusts the body, and
// drops a delivery ID it has already handled.
func ExampleVerify() {
	secret := "whsec_shown-once-at-creation"
	seen := map[string]bool{}
	handler := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(secret, body, r.Header.Get(webhook.SignatureHeader), time.Now(), 0); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if id := r.Header.Get(webhook.DeliveryHeader); !seen[id] {
			seen[id] = true
			fmt.Println("handled", r.Header.Get(webhook.EventHeader))
		}
		w.WriteHeader(http.StatusNoContent)
	}

	// What a sender does: sign "<unix time>.<body>".
	body := []byte(`{"id":"d1","type":"site.created"}`)
	for range 2 { // the same delivery twice: handled once
		req := httptest.NewRequest("POST", "/hook", bytes.NewReader(body))
		req.Header.Set(webhook.SignatureHeader, webhook.Sign(time.Now(), body, secret))
		req.Header.Set(webhook.DeliveryHeader, "d1")
		req.Header.Set(webhook.EventHeader, "site.created")
		rec := httptest.NewRecorder()
		handler(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// handled site.created
	// 204
	// 204
}

// Wrap the store once; register an endpoint; every change committed through
// the wrapped store then has its delivery, which a Dispatcher sends.
func ExampleDispatcher_RunOnce() {
	ctx := context.Background()
	key := []byte("a key of at least thirty-two bytes, kept off the database")
	got := make(chan string, 1)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get(webhook.EventHeader)
	}))
	defer rcv.Close()

	store := webhook.Wrap(memory.New())
	owner := license.Actor{Company: "acme", Email: "owner@acme.example", Role: license.Owner}
	svc := &webhook.Service{Store: store, Key: key, AllowHTTP: true} // AllowHTTP: a local test receiver
	c, _ := svc.Create(ctx, owner, webhook.CreateRequest{URL: rcv.URL, Events: []string{"site.created"}})
	fmt.Println(c.Enabled, len(c.Secret) > 0)

	_ = store.Update(ctx, func(tx storage.Tx) error { // a change and its event
		_, err := tx.AppendEvent(ctx, eventlog.Event{ID: license.NewID(), Company: "acme", Time: time.Now(), Type: "site.created", Actor: owner.Email})
		return err
	})
	d := &webhook.Dispatcher{Store: store, Key: key, AllowHTTP: true, AllowPrivate: true} // AllowPrivate: the receiver is on localhost
	rep, _ := d.RunOnce(ctx, time.Now())
	fmt.Println(rep.Delivered, <-got)
	// Output:
	// true true
	// 1 site.created
}
