// `mqa report table1|table3 RUN_DIR... [-o FILE]`: the markdown of a reproduced table from the run directories of
// scripts/table1.sh / scripts/table3.sh (each holds result.json and config.yaml; see mqa/report/run_result.h):
// our numbers beside the paper's, seeds averaged, and which of the paper's orderings hold (mqa/report/table_report.h).
// Run directories without a finished result are listed as not reported; none readable is an error.
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "cli/command.h"
#include "mqa/report/table_report.h"

static void setup_report(CLI::App& app) {
  auto* cmd = app.add_subcommand("report", "markdown of the paper's Table 1 or 3 from the run directories of "
                                           "scripts/table1.sh / table3.sh");
  static std::string table, output;
  static std::vector<std::string> dirs;
  cmd->add_option("table", table, "table1 | table3")->required()->check(CLI::IsMember({"table1", "table3"}));
  cmd->add_option("run_dirs", dirs, "run directories (each with result.json and config.yaml)")->required();
  cmd->add_option("-o,--output", output, "write the markdown here (default: stdout)");
  cmd->callback([] {
    const mqa::PaperTable& paper = mqa::paper_table(table);
    mqa::ReportInputs inputs;
    for (const auto& d : dirs) {
      try {
        mqa::RunResult r = mqa::read_run_result(d);
        if (r.table != table) throw std::runtime_error(fmt::format("a {} run, not {}", r.table, table));
        inputs.runs.push_back(std::move(r));
      } catch (const std::exception& e) {
        std::cerr << "report: skipping " << d << ": " << e.what() << "\n";
        inputs.unreadable.push_back(fmt::format("{}: {}", d, e.what()));
      }
    }
    if (inputs.runs.empty()) throw std::runtime_error("report: none of the run directories has a finished result");
    const std::string md = mqa::render_report(paper, inputs);
    if (output.empty()) {
      std::cout << md;
      return;
    }
    std::ofstream out(output, std::ios::binary);
    out << md;
    if (!out) throw std::runtime_error(fmt::format("{}: cannot write the report", output));
    std::cout << fmt::format("report: {} runs into {}\n", inputs.runs.size(), output);
  });
}
MQA_COMMAND(report, setup_report);
