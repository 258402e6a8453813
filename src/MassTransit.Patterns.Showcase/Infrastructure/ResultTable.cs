namespace MassTransit.Patterns.Showcase.Infrastructure;

/// <summary>A scenario's outcome: named measurements and whether its guarantee held.</summary>
public sealed class ResultTable(string scenario)
{
    readonly List<(string Name, string Value)> _rows = [];
    readonly List<string> _failures = [];

    public string Scenario { get; } = scenario;

    public bool Succeeded => _failures.Count == 0;

    public ResultTable Add(string name, object value)
    {
        _rows.Add((name, value switch
        {
            double d => d.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture),
            long or int => $"{value:N0}",
            _ => value.ToString() ?? ""
        }));
        return this;
    }

    /// <summary>Records a guarantee; a broken one makes the showcase exit non-zero.</summary>
    public ResultTable Check(string guarantee, bool held)
    {
        Add(guarantee, held ? "held" : "BROKEN");
        if (!held)
            _failures.Add(guarantee);
        return this;
    }

    public void Print(TextWriter output)
    {
        var width = Math.Max(12, _rows.Count == 0 ? 0 : _rows.Max(r => r.Name.Length));
        var valueWidth = Math.Max(8, _rows.Count == 0 ? 0 : _rows.Max(r => r.Value.Length));
        valueWidth = Math.Max(valueWidth, Scenario.Length - width - 3);
        var rule = new string('-', width + valueWidth + 7);
        output.WriteLine(rule);
        output.WriteLine($"| {Scenario.PadRight(width + valueWidth + 3)} |");
        output.WriteLine(rule);
        foreach (var (name, value) in _rows)
            output.WriteLine($"| {name.PadRight(width)} | {value.PadLeft(valueWidth)} |");
        output.WriteLine(rule);
    }
}
