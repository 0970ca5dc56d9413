package billing

// SaveSite lets the external tests write a site record as stored, bypassing
// the service's checks.
var SaveSite = saveSite
