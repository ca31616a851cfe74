/* park.c - parked blocks rejoin the heap (park.h has the why): each is freed
 * and coalesced as an immediate free would have done, and its list loses
 * credit for a block that waited in vain.  Lock held. */
#include "park.h"

void park_flush(void)
{
    for (unsigned w = 0; w < NPWORDS; w++)
        while (fit->park_bits[w]) {
            unsigned q = w * 64 + (unsigned)__builtin_ctzll(fit->park_bits[w]);
            while (fit->park[q]) {
                uintptr_t b = park_pop(q, blk_head((uintptr_t)fit->park[q]));
                int c = fit->park_credit[q] - PARK_LOSS;
                fit->park_credit[q] = (int16_t)(c < INT16_MIN ? INT16_MIN : c);
                trim_after(release_cold(b));
            }
        }
    SNUG_ASSERT(!fit->park_n && !fit->park_bytes, "K1 (none parked after a flush)", fit->park_n);
}
