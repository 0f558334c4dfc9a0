/* crc32c.c: CRC32C (Castagnoli) and the TFRecord checksum mask.
 *
 * Reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF;
 * the check value is crc32c("123456789") = 0xE3069283. zlib only has the
 * other CRC-32, so this is the one checksum written here. Two paths give the
 * same numbers: the SSE4.2 crc32 instruction where the CPU has it (checked
 * once at run time), else slicing-by-8 tables. Video records are hundreds of
 * kilobytes each and every byte is checked, so the speed matters. */
#include "formats.h"

#include <pthread.h>
#include <string.h>

static uint32_t table[8][256];
static int use_sse42;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_tables(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
#if defined(__x86_64__)
    use_sse42 = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc_tables(uint32_t c, const uint8_t *p, size_t n)
{
    while (n >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
        lo ^= c;   /* little-endian load, as on every platform cssmc targets */
        c = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^
            table[4][lo >> 24] ^ table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
            table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--) c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
    return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t c, const uint8_t *p, size_t n)
{
    uint64_t c64 = c;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = __builtin_ia32_crc32di(c64, v);
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
    while (n--) c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif

uint32_t crc32c_extend(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&init_once, init_tables);
    uint32_t c = ~crc;
#if defined(__x86_64__)
    if (use_sse42) return ~crc_sse42(c, data, n);
#endif
    return ~crc_tables(c, data, n);
}

uint32_t crc32c(const void *data, size_t n) { return crc32c_extend(0, data, n); }

uint32_t crc32c_portable(const void *data, size_t n)
{
    pthread_once(&init_once, init_tables);
    return ~crc_tables(~0u, data, n);
}

uint32_t tfr_mask_crc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u; }
