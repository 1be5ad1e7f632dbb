package web

import "net/http"

func (ui *UI) configRoutes(mux *http.ServeMux) {}
