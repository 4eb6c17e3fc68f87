module istio-apim/harness/go-httpbin

go 1.25

require github.com/mccutchen/go-httpbin/v2 v2.15.0
