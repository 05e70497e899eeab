# nbgrader's configuration for everyone on the class hub (/etc/jupyter/nbgrader_config.py in the single-user
# image): the course, and the exchange as a service (nbexchange) instead of a shared folder, which Kubernetes
# pods do not have. The plugin finds the service at $NAAS_BASE_URL and authenticates with $NAAS_JWT.
c = get_config()  # noqa: F821 -- provided by traitlets

c.CourseDirectory.course_id = "calcml"
c.Exchange.assignment_dir = "/home/jovyan"

c.ExchangeFactory.exchange = "nbexchange.plugin.Exchange"
c.ExchangeFactory.fetch_assignment = "nbexchange.plugin.ExchangeFetchAssignment"
c.ExchangeFactory.fetch_feedback = "nbexchange.plugin.ExchangeFetchFeedback"
c.ExchangeFactory.list = "nbexchange.plugin.ExchangeList"
c.ExchangeFactory.release_assignment = "nbexchange.plugin.ExchangeReleaseAssignment"
c.ExchangeFactory.release_feedback = "nbexchange.plugin.ExchangeReleaseFeedback"
c.ExchangeFactory.submit = "nbexchange.plugin.ExchangeSubmit"
c.ExchangeFactory.collect = "nbexchange.plugin.ExchangeCollect"
