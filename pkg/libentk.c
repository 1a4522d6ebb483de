/* libentk.c - the shared library libentk.so (make lib): the three headers compiled once with the
 * implementation macro. Built with -fvisibility=hidden -DENTK_SHARED, so ENTKDEF exports the public
 * entk_* functions alone and everything else stays inside (docs/conventions.md §5.1). */
#define ENTK_IMPLEMENTATION
#include "entk.h"
#include "entk_cn.h"
#include "entk_so3.h"
