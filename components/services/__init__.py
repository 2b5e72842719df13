"""The data services every notebook reaches (Spark, Kafka, HDFS, SAP Vora) and the monitoring of the class."""
