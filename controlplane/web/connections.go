package web

import "net/http"

func (ui *UI) connectionRoutes(mux *http.ServeMux) {}
