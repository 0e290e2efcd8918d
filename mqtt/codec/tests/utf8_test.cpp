// UTF-8 rules of MQTT strings (MQTT 3.1.1 section 1.5.3).
#include "mqtt/codec/tests/helpers.hpp"

namespace mop::mqtt::test {
namespace {

TEST(Utf8, AcceptsWellFormedText) {
  EXPECT_TRUE(valid_mqtt_utf8(""));
  EXPECT_TRUE(valid_mqtt_utf8("sensors/room1/temp"));
  EXPECT_TRUE(valid_mqtt_utf8("\xC3\xA9"));          // U+00E9
  EXPECT_TRUE(valid_mqtt_utf8("\xE2\x82\xAC"));      // U+20AC
  EXPECT_TRUE(valid_mqtt_utf8("\xF0\x9F\x98\x80"));  // U+1F600
  EXPECT_TRUE(valid_mqtt_utf8("A\xF0\xAA\x9B\x94"));  // spec figure 1.1: U+2A6D4
  EXPECT_TRUE(valid_mqtt_utf8("\xED\x9F\xBF"));      // U+D7FF, just below the surrogates
  EXPECT_TRUE(valid_mqtt_utf8("\xEE\x80\x80"));      // U+E000, just above them
  EXPECT_TRUE(valid_mqtt_utf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
}

TEST(Utf8, NonCharactersAndBomPass_MQTT_1_5_3_3) {
  EXPECT_TRUE(valid_mqtt_utf8("\xEF\xBF\xBF"));  // U+FFFF: senders SHOULD NOT, receivers must not refuse
  EXPECT_TRUE(valid_mqtt_utf8("\xEF\xBB\xBF" "a"));  // BOM is kept, not skipped
  EXPECT_TRUE(valid_mqtt_utf8("\x01\x1F\x7F"));  // control characters are a SHOULD NOT too
}

TEST(Utf8, RejectsNullCharacter_MQTT_1_5_3_2) {
  EXPECT_FALSE(valid_mqtt_utf8(std::string_view("\0", 1)));
  EXPECT_FALSE(valid_mqtt_utf8(std::string_view("ab\0", 3)));
  EXPECT_FALSE(valid_mqtt_utf8("\xC0\x80"));  // the "modified UTF-8" spelling of U+0000
}

TEST(Utf8, RejectsSurrogates_MQTT_1_5_3_1) {
  EXPECT_FALSE(valid_mqtt_utf8("\xED\xA0\x80"));  // U+D800
  EXPECT_FALSE(valid_mqtt_utf8("\xED\xBF\xBF"));  // U+DFFF
  EXPECT_FALSE(valid_mqtt_utf8("\xED\xA0\xBD\xED\xB8\x80"));  // CESU-8 pair
}

TEST(Utf8, RejectsIllFormedSequences_MQTT_1_5_3_1) {
  for (std::string_view s : {"\x80", "\xBF", "\xC1\xBF", "\xE0\x9F\xBF", "\xF0\x8F\xBF\xBF", "\xF4\x90\x80\x80",
                             "\xF5\x80\x80\x80", "\xFF", "\xC3", "\xE2\x82", "\xF0\x9F\x98", "\xC3\x41",
                             "\xE2\x41\xAC", "\xF0\x9F\x41\x80", "a\xC3"}) {
    EXPECT_FALSE(valid_mqtt_utf8(s)) << testing::PrintToString(s);
  }
}

// Reference: decode one code point the slow, obvious way and apply the rules directly.
bool reference_valid(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<std::uint8_t>(s[i]);
    std::size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    std::uint32_t cp = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
    for (std::size_t k = 1; k < n; ++k) {
      const auto c = static_cast<std::uint8_t>(s[i + k]);
      if ((c >> 6) != 2) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    const std::uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0) return false;
    i += n;
  }
  return true;
}

TEST(Utf8, AgreesWithAReferenceOnEveryShortSequence) {
  std::string s;
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      s.assign({static_cast<char>(a), static_cast<char>(b)});
      ASSERT_EQ(valid_mqtt_utf8(s), reference_valid(s)) << a << ' ' << b;
    }
  }
  for (int a = 0xE0; a < 0x100; ++a) {
    for (int b = 0x70; b < 0xC8; ++b) {
      for (int c = 0x70; c < 0xC8; ++c) {
        s.assign({static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)});
        ASSERT_EQ(valid_mqtt_utf8(s), reference_valid(s)) << a << ' ' << b << ' ' << c;
        s.push_back('\x80');
        ASSERT_EQ(valid_mqtt_utf8(s), reference_valid(s)) << a << ' ' << b << ' ' << c << " 80";
      }
    }
  }
}

}  // namespace
}  // namespace mop::mqtt::test
