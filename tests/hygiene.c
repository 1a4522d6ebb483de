/* Header hygiene: the headers alone (no implementation) compile as -std=c99 -pedantic, twice. */
#include "entk.h"
#include "entk.h"
#include "entk_cn.h"
#include "entk_cn.h"
#include "entk_so3.h"
#include "entk_so3.h"

const char *entk_test_hygiene(void);
const char *entk_test_hygiene(void) { return entk_status_string(ENTK_OK); }
