#include "curl_shim.h"

CURLcode memtype_curl_set_long(CURL *curl, CURLoption option, long value) {
    return curl_easy_setopt(curl, option, value);
}

CURLcode memtype_curl_set_string(CURL *curl, CURLoption option, const char *value) {
    return curl_easy_setopt(curl, option, value);
}

CURLcode memtype_curl_set_headers(CURL *curl, struct curl_slist *headers) {
    return curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
}

CURLcode memtype_curl_set_body(CURL *curl, const void *data, long length) {
    CURLcode rc = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, length);
    if (rc != CURLE_OK) return rc;
    return curl_easy_setopt(curl, CURLOPT_POSTFIELDS, data);
}

CURLcode memtype_curl_set_body_sink(CURL *curl, memtype_curl_data_cb callback, void *context) {
    CURLcode rc = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, callback);
    if (rc != CURLE_OK) return rc;
    return curl_easy_setopt(curl, CURLOPT_WRITEDATA, context);
}

CURLcode memtype_curl_set_header_sink(CURL *curl, memtype_curl_data_cb callback, void *context) {
    CURLcode rc = curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, callback);
    if (rc != CURLE_OK) return rc;
    return curl_easy_setopt(curl, CURLOPT_HEADERDATA, context);
}

CURLcode memtype_curl_set_error_buffer(CURL *curl, char *buffer) {
    return curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, buffer);
}

long memtype_curl_status(CURL *curl) {
    long status = 0;
    if (curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK) return 0;
    return status;
}
