package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/webhook"
)

// webhookConfig is what the webhook flags choose.
type webhookConfig struct {
	keyFile   string        // the key deriving every endpoint's signing secret
	timeout   time.Duration // one delivery attempt
	allowHTTP bool          // accept http:// endpoints (tests, local receivers)
	// allowPrivate lets deliveries reach addresses that are not public
	allowPrivate bool
}

func webhookFlags(fs *flag.FlagSet, def func(env, fallback string) string) *webhookConfig {
	w := &webhookConfig{}
	fs.StringVar(&w.keyFile, "webhook-key", def("LICENSEKIT_WEBHOOK_KEY", ""), "file of the key (32 random bytes, hex) that derives webhook signing secrets, created with mode 0600 if missing; every process of one database needs the same file (default: next to the SQLite file, or ./licensekit-webhook.key with PostgreSQL; env LICENSEKIT_WEBHOOK_KEY)")
	fs.DurationVar(&w.timeout, "webhook-timeout", 10*time.Second, "bound of one webhook delivery attempt; an attempt of a killed process is retried after twice this")
	fs.BoolVar(&w.allowHTTP, "webhook-allow-http", false, "accept http:// webhook endpoints (tests and local receivers only; production endpoints must be https://)")
	fs.BoolVar(&w.allowPrivate, "webhook-allow-private", false, "let webhook deliveries reach addresses that are not public (loopback, private, link-local such as a cloud metadata service): endpoints on your own network and tests only; without it such a delivery fails, whatever name led to it")
	return w
}

// defaults fills the key file's default from the store choice.
func (w *webhookConfig) defaults(c config) {
	if w.keyFile == "" {
		w.keyFile = c.sqlite + ".webhook-key"
		if c.postgres != "" {
			w.keyFile = "licensekit-webhook.key"
		}
	}
}

// loadWebhookKey reads the webhook key file, creating it (mode 0600) when it
// does not exist; a file others may read is refused.
func loadWebhookKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return loadWebhookKey(path) // another process made it first
		}
		if err != nil {
			return nil, fmt.Errorf("create the webhook key: %w", err)
		}
		if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
			f.Close()
			return nil, fmt.Errorf("write the webhook key: %w", err)
		}
		return key, f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("read the webhook key: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("the webhook key %s is readable by others (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("the webhook key %s must hold at least 32 bytes in hex", path)
	}
	return key, nil
}

// webhookService serves the webhook routes with the server's key.
func webhookService(store storage.Store, clock license.Clock, key []byte, w *webhookConfig) *webhook.Service {
	return &webhook.Service{Store: store, Clock: clock, Key: key, AllowHTTP: w.allowHTTP}
}

// webhookLoop is the background round sending due webhook deliveries, every
// -interval.
func webhookLoop(store storage.Store, clock license.Clock, key []byte, c config, log *slog.Logger) bgLoop {
	w := c.webhooks
	d := &webhook.Dispatcher{Store: store, Key: key, Timeout: w.timeout, AllowHTTP: w.allowHTTP, AllowPrivate: w.allowPrivate}
	return bgLoop{"webhook-deliveries", c.interval, func(ctx context.Context) error {
		r, err := d.RunOnce(ctx, clock.Now())
		if r.Delivered+r.Retrying+r.Failed+r.Disabled > 0 {
			log.Info("webhook deliveries", "delivered", r.Delivered, "retrying", r.Retrying, "failed", r.Failed, "endpoints_disabled", r.Disabled)
		}
		return err
	}}
}
