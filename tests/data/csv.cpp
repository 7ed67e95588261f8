// Tests of plugen/data/csv.hpp: round trips of tricky cells, the accepted dialect (CRLF, BOM, quotes, blank
// lines), every rejection with its line number, the column helpers, numeric cells, and Python's csv module.
#include <nlohmann/json.hpp>

#include "plugen/data.hpp"
#include "support.hpp"

using namespace plugen;

namespace {

CsvTable csv_test_read_text(const plugen_test::TempDir& dir, const std::string& text, const CsvOptions& options = {}) {
  const auto path = dir / "t.csv";
  plugen_test::write_bytes(path, text);
  return read_csv(path, options);
}

std::string csv_test_reject(const plugen_test::TempDir& dir, const std::string& text) {
  const auto path = dir / "bad_labels.csv";
  plugen_test::write_bytes(path, text);
  auto msg = plugen_test::error_message<IoError>([&] { read_csv(path); });
  CHECK_THAT(msg, Catch::Contains("bad_labels.csv"));
  return msg;
}

using CsvRows = std::vector<std::vector<std::string>>;

}  // namespace

TEST_CASE("write_csv/read_csv round trip cells with delimiters, quotes, line breaks and blanks", "[csv]") {
  plugen_test::TempDir dir("csv_roundtrip");
  CsvTable table;
  table.columns = {"name", "age, years", "quote \"q\"", "multi\nline"};
  table.rows = {
      {"plain", "42", "", "x"},
      {"with,comma", "-1.5e3", "say \"hi\"", "two\nlines"},
      {"crlf\r\ninside", " padded ", "\"", "\r"},
      {"", "", "", ""},
      {"ünïcödé ✓", "NaN", "'single'", "tab\there"},
  };
  const auto path = dir / "labels.csv";
  write_csv(path, table);
  const auto back = read_csv(path);
  CHECK(back.columns == table.columns);
  CHECK(back.rows == table.rows);
  CHECK(back.source == path);
  CHECK(back.lines.size() == table.rows.size());
  CHECK(back.lines.front() == 3);  // the header spans lines 1-2
  CHECK(dir.entries() == std::vector<std::string>{"labels.csv"});
  // Only cells that need it are quoted.
  CHECK_THAT(read_file(path),
             Catch::StartsWith("name,\"age, years\",\"quote \"\"q\"\"\",\"multi\nline\"\nplain,42,,x\n"));

  // A one-column table with empty cells: an empty line would be skipped as blank, so write_csv quotes it.
  CsvTable single;
  single.columns = {"smile"};
  single.rows = {{"1"}, {""}, {"0"}, {""}};
  write_csv(path, single);
  CHECK(read_file(path) == "smile\n1\n\"\"\n0\n\"\"\n");
  CHECK(read_csv(path).rows == single.rows);

  CsvTable header_only;
  header_only.columns = {"a", "b"};
  write_csv(path, header_only);
  const auto empty = read_csv(path);
  CHECK(empty.columns == header_only.columns);
  CHECK(empty.num_rows() == 0);
}

TEST_CASE("read_csv accepts CRLF, CR, a BOM, blank lines, a missing final newline and quoted fields", "[csv]") {
  plugen_test::TempDir dir("csv_dialect");
  const CsvRows expected = {{"1", "x"}, {"2", ""}, {"", "y"}};
  for (const std::string& text : {
           std::string("a,b\n1,x\n2,\n,y\n"),
           std::string("a,b\r\n1,x\r\n2,\r\n,y\r\n"),
           std::string("a,b\r1,x\r2,\r,y"),
           std::string("\xEF\xBB\xBF"
                       "a,b\n1,x\n2,\n,y"),
           std::string("\n\na,b\n\n1,x\r\n\r\n2,\n,y\n\n\n"),
           std::string("\"a\",\"b\"\n\"1\",\"x\"\n2,\"\"\n\"\",y\n"),
       }) {
    INFO(text);
    const auto t = csv_test_read_text(dir, text);
    CHECK(t.columns == std::vector<std::string>{"a", "b"});
    CHECK(t.rows == expected);
  }
  // Line numbers count physical lines, including those inside quoted fields and blank ones.
  const auto t = csv_test_read_text(dir, "a,b\n\"x\ny\",1\n\n2,\"p\r\nq\"\n3,4\n");
  CHECK(t.rows == CsvRows{{"x\ny", "1"}, {"2", "p\r\nq"}, {"3", "4"}});
  CHECK(t.lines == std::vector<size_t>{2, 5, 7});
  // A quote inside an unquoted field is a plain character; spaces are kept.
  CHECK(csv_test_read_text(dir, "a,b\n5\" disk, x \n").rows == CsvRows{{"5\" disk", " x "}});
  // A trailing delimiter is one more (empty) field.
  CHECK(csv_test_read_text(dir, "a,b,c\n1,2,\n").rows == CsvRows{{"1", "2", ""}});
  // Other delimiters.
  const auto tsv = csv_test_read_text(dir, "a\tb\n1,5\t\"x\ty\"\n", CsvOptions().delimiter('\t'));
  CHECK(tsv.rows == CsvRows{{"1,5", "x\ty"}});
  CHECK_THROWS_AS(csv_test_read_text(dir, "a\n", CsvOptions().delimiter('"')), ConfigError);
  CHECK_THROWS_AS(write_csv(dir / "x.csv", tsv, CsvOptions().delimiter('\n')), ConfigError);
  write_csv(dir / "x.tsv", tsv, CsvOptions().delimiter('\t'));
  CHECK(read_file(dir / "x.tsv") == "a\tb\n1,5\t\"x\ty\"\n");
}

TEST_CASE("read_csv names the file and the line of every malformed input", "[csv]") {
  plugen_test::TempDir dir("csv_reject");
  CHECK_THAT(plugen_test::error_message<IoError>([&] { read_csv(dir / "nope.csv"); }),
             Catch::Contains("nope.csv") && Catch::Contains("no such file"));
  CHECK_THAT(csv_test_reject(dir, ""), Catch::Contains("empty"));
  CHECK_THAT(csv_test_reject(dir, "\xEF\xBB\xBF\r\n\n"), Catch::Contains("empty"));
  CHECK_THAT(csv_test_reject(dir, "a,,c\n1,2,3\n"),
             Catch::Contains("line 1") && Catch::Contains("column 2") && Catch::Contains("empty name"));
  CHECK_THAT(csv_test_reject(dir, "a, ,c\n"), Catch::Contains("column 2") && Catch::Contains("empty name"));
  CHECK_THAT(csv_test_reject(dir, "\n\nage,smile,age\n"),
             Catch::Contains("line 3") && Catch::Contains("'age' appears twice") && Catch::Contains("columns 1 and 3"));
  CHECK_THAT(csv_test_reject(dir, "a,b\n1,2\n3\n4,5\n"),
             Catch::Contains("line 3") && Catch::Contains("expected 2 fields") && Catch::Contains("found 1"));
  CHECK_THAT(csv_test_reject(dir, "a,b\n\"multi\nline\",2\n1,2,3\n"),
             Catch::Contains("line 4") && Catch::Contains("found 3"));
  CHECK_THAT(csv_test_reject(dir, "a,b\n1,2\n3,\"open\n\n"),
             Catch::Contains("line 3") && Catch::Contains("not closed"));
  CHECK_THAT(csv_test_reject(dir, "a,b\n1,\"x\"y\n"),
             Catch::Contains("line 2") && Catch::Contains("'y'") && Catch::Contains("closing quote"));
  const auto path = dir / "big.csv";
  plugen_test::write_bytes(path, "a\n1\n");
  CHECK_THAT(plugen_test::error_message<IoError>([&] { read_csv(path, CsvOptions().max_bytes(3)); }),
             Catch::Contains("big.csv") && Catch::Contains("limit"));
}

TEST_CASE("write_csv rejects tables it cannot write and leaves no file", "[csv]") {
  plugen_test::TempDir dir("csv_write_reject");
  const auto path = dir / "out.csv";
  CsvTable t;
  CHECK_THROWS_AS(write_csv(path, t), ConfigError);
  t.columns = {"a", ""};
  CHECK_THROWS_AS(write_csv(path, t), ConfigError);
  t.columns = {"a", "b", "a"};
  CHECK_THAT(plugen_test::error_message<ConfigError>([&] { write_csv(path, t); }),
             Catch::Contains("'a' appears twice") && Catch::Contains("out.csv"));
  t.columns = {"a", "b"};
  t.rows = {{"1", "2"}, {"3"}};
  CHECK_THAT(plugen_test::error_message<ShapeError>([&] { write_csv(path, t); }),
             Catch::Contains("row 2") && Catch::Contains("1 cells") && Catch::Contains("out.csv"));
  CHECK(dir.entries().empty());
}

TEST_CASE("CsvTable finds columns by name and says where a row came from", "[csv]") {
  plugen_test::TempDir dir("csv_columns");
  const auto t = csv_test_read_text(dir, "id,age,smile\n\na,30,1\nb,,0\n");
  CHECK(t.num_columns() == 3);
  CHECK(t.num_rows() == 2);
  CHECK(t.find_column("age") == std::optional<size_t>(1));
  CHECK_FALSE(t.find_column("Age").has_value());
  CHECK(t.column_index("smile") == 2);
  CHECK(t.column("age") == std::vector<std::string>{"30", ""});
  CHECK(t.row_location(1) == "line 4");
  const auto msg = plugen_test::error_message<ConfigError>([&] { t.column("gender"); });
  CHECK_THAT(msg, Catch::Contains("'gender'") && Catch::Contains("t.csv") && Catch::Contains("'id', 'age', 'smile'"));
  CsvTable memory;
  memory.columns = {"x"};
  memory.rows = {{"1"}};
  CHECK(memory.row_location(0) == "row 1");
}

TEST_CASE("parse_number reads finite numbers, maps missing markers to nothing, rejects the rest", "[csv]") {
  const std::vector<std::pair<std::string, double>> numbers = {
      {"0", 0},           {"42", 42},   {"-7", -7}, {"+3", 3},         {"2.5", 2.5},
      {"-0.125", -0.125}, {".5", 0.5},  {"1.", 1},  {"1e3", 1000},     {"-2.5E-2", -0.025},
      {" 17 ", 17},       {"\t1\r", 1}, {"007", 7}, {"1e-310", 1e-310}};
  for (const auto& [text, value] : numbers) {
    INFO("'" << text << "'");
    REQUIRE(parse_number(text).has_value());
    CHECK(*parse_number(text) == value);
    CHECK(try_parse_number(text) == value);
    CHECK_FALSE(is_missing_value(text));
  }
  for (const char* text :
       {"", "   ", "NaN", "nan", "NAN", "-nan", "na", "NA", "n/a", "N/A", "#N/A", "<NA>", "null", "None", " NaN "}) {
    INFO("'" << text << "'");
    CHECK(is_missing_value(text));
    CHECK_FALSE(parse_number(text).has_value());
    CHECK_FALSE(try_parse_number(text).has_value());
  }
  for (const char* text : {"abc", "3kg", "1,5", "1.2.3", "0x1A", "inf", "-Infinity", "1e400", "--1", "+-1", "+", "-",
                           ".", "e5", "1e", "1 2", "nana", "true"}) {
    INFO("'" << text << "'");
    CHECK_FALSE(try_parse_number(text).has_value());
    CHECK_FALSE(is_missing_value(text));
    const auto msg =
        plugen_test::error_message<IoError>([&] { parse_number(text, "'labels.csv' line 7, column 'age'"); });
    CHECK_THAT(msg, Catch::StartsWith("'labels.csv' line 7, column 'age': expected a finite number") &&
                        Catch::Contains(std::string("got '") + text + "'"));
  }
}

TEST_CASE("read_csv agrees with Python's csv module in both directions", "[csv][python]") {
  if (!plugen_test::have_python("csv json")) {
    WARN("skipped: /usr/bin/python3 is not available");
    return;
  }
  plugen_test::TempDir dir("csv_python");
  const std::string script = R"(
import csv, json, sys
d = sys.argv[1]
rows = [['id', 'age', 'note'], ['a', '31', 'plain'], ['b', '', 'comma, inside'], ['c', 'NaN', 'quote " inside'],
        ['d', '2.5', 'line\nbreak'], ['e', '-1', '']]
with open(d + '/py.csv', 'w', newline='', encoding='utf-8') as f:
    csv.writer(f).writerows(rows)  # CRLF line ends, minimal quoting
with open(d + '/py.json', 'w') as f:
    json.dump(rows, f)
# plugen's file, parsed by Python, must match the JSON plugen wrote next to it.
with open(d + '/plugen.csv', newline='', encoding='utf-8') as f:
    got = list(csv.reader(f))
with open(d + '/plugen.json') as f:
    want = json.load(f)
assert got == want, (got, want)
)";
  CsvTable ours;
  ours.columns = {"x", "y,z"};
  ours.rows = {{"1", "a \"b\""}, {"", "c\nd"}, {"é", ""}};
  write_csv(dir / "plugen.csv", ours);
  auto ours_json = nlohmann::json::array();
  ours_json.push_back(ours.columns);
  for (const auto& r : ours.rows) ours_json.push_back(r);
  write_file_atomic(dir / "plugen.json", ours_json.dump());
  REQUIRE(plugen_test::run_python(dir.path(), "csv_check.py", script, {dir.path().string()}) == 0);

  const auto t = read_csv(dir / "py.csv");
  const auto rows = nlohmann::json::parse(read_file(dir / "py.json")).get<CsvRows>();
  CHECK(t.columns == rows.front());
  CHECK(t.rows == CsvRows(rows.begin() + 1, rows.end()));
}
