package http

// LimiterSizes is how many client addresses and key prefixes the
// failed-authentication limiters of h remember.
func LimiterSizes(h *Handler) (addrs, prefixes int) {
	return h.lim.authAddr.Len(), h.lim.authPrefix.Len()
}
