#ifndef MEMTYPE_CURL_SHIM_H
#define MEMTYPE_CURL_SHIM_H

/*
 * Typed wrappers over libcurl's variadic calls (curl_easy_setopt,
 * curl_easy_getinfo), which Swift cannot call: one function per argument
 * type, so the Swift client (Sources/memtype/Client) stays free of C varargs.
 */

#include <stddef.h>
#include <curl/curl.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The callback libcurl calls with each piece of the body or each header line. */
typedef size_t (*memtype_curl_data_cb)(char *data, size_t size, size_t count, void *context);

CURLcode memtype_curl_set_long(CURL *curl, CURLoption option, long value);
CURLcode memtype_curl_set_string(CURL *curl, CURLoption option, const char *value);
CURLcode memtype_curl_set_headers(CURL *curl, struct curl_slist *headers);
/** The request body: `length` bytes at `data`, which must outlive the transfer. */
CURLcode memtype_curl_set_body(CURL *curl, const void *data, long length);
CURLcode memtype_curl_set_body_sink(CURL *curl, memtype_curl_data_cb callback, void *context);
CURLcode memtype_curl_set_header_sink(CURL *curl, memtype_curl_data_cb callback, void *context);
/** Where libcurl writes a readable reason for a failed transfer (CURL_ERROR_SIZE bytes). */
CURLcode memtype_curl_set_error_buffer(CURL *curl, char *buffer);
/** The HTTP status of the last response, 0 if none arrived. */
long memtype_curl_status(CURL *curl);

#ifdef __cplusplus
}
#endif

#endif
