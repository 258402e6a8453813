using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.Tests.Configuration;

public sealed class OptionsValidatorTests
{
    sealed class SampleOptions : IPatternOptions
    {
        public int Workers { get; set; } = 4;
        public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);
        public string Suffix { get; set; } = "_lane";

        public void Validate(OptionsValidator validator) => validator
            .Positive(Workers, nameof(Workers))
            .Positive(Interval, nameof(Interval))
            .NotEmpty(Suffix, nameof(Suffix));
    }

    [Fact]
    public void Valid_options_pass()
    {
        var options = new SampleOptions().EnsureValid();
        Assert.Equal(4, options.Workers);
    }

    [Fact]
    public void Every_bad_option_is_named_with_its_value()
    {
        var options = new SampleOptions { Workers = 0, Interval = TimeSpan.FromSeconds(-2), Suffix = " " };

        var failure = Assert.Throws<PatternOptionsException>(() => options.EnsureValid());

        Assert.Equal(["SampleOptions.Workers", "SampleOptions.Interval", "SampleOptions.Suffix"], failure.Failures.Select(f => f.Option));
        Assert.Contains("SampleOptions.Workers must be greater than zero (was 0)", failure.Message);
        Assert.Contains("SampleOptions.Interval must be greater than zero (was -00:00:02)", failure.Message);
    }

    [Fact]
    public void Failures_surface_as_MassTransit_validation_results()
    {
        var results = new SampleOptions { Workers = -1 }.CreateValidator().ToValidationResults().ToList();

        var result = Assert.Single(results);
        Assert.Equal(ValidationResultDisposition.Failure, result.Disposition);
        Assert.Equal("SampleOptions.Workers", result.Key);
    }
}
