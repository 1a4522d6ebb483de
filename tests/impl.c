/* The one translation unit with the implementation, shared by every test binary. Each header is
 * included before and after the implementation macro (include hygiene). */
#include "entk.h"
#include "entk_cn.h"
#include "entk_so3.h"
#define ENTK_IMPLEMENTATION
#include "entk.h"
#include "entk.h"
#include "entk_cn.h"
#include "entk_cn.h"
#include "entk_so3.h"
#include "entk_so3.h"
